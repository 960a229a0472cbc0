"""The compiled artifact: the Plan model, the JSON schemas of .het types, the workflow graph, and its Mermaid/DOT rendering."""
