// The VS Code side of hetflow: colours come from the TextMate grammar (syntaxes/); the
// rest (diagnostics, hover with the placement, definitions, completion, outline,
// formatting) from `hetflow lsp`, started here over stdio.
"use strict";
const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("hetflow");
  const [command, ...args] = config.get("command", ["hetflow", "lsp"]);
  const catalog = config.get("catalog", "");
  const serverOptions = { command, args, transport: TransportKind.stdio };
  const clientOptions = {
    documentSelector: [{ scheme: "file", language: "het" }],
    initializationOptions: catalog ? { catalog } : {},
    synchronize: { configurationSection: "hetflow" },
  };
  client = new LanguageClient("hetflow", "hetflow", serverOptions, clientOptions);
  context.subscriptions.push(
    vscode.commands.registerCommand("hetflow.restartServer", () => client.restart())
  );
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
