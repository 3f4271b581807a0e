"""LangChain tools, the graph's only doors into the services. Arrive with the agent issue."""
