"""Local embedded servers, the process launcher and deployment files."""
