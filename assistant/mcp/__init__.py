"""The MCP server: the user's memory as Model Context Protocol tools and resources (stdio and streamable HTTP)."""
