"""Agent plug-ins: each does the work of one phase. Built-ins need no LLM; a user plugs in
their own agent through the `universal_framework.agents` entry-point group, without forking."""
