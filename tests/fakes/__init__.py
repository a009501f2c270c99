"""Local stand-ins for external peers (written from their public documentation), run as their own processes."""
