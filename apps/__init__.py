"""Applications of the course on the minigrad engine: edges, digits, yolo, faces, style; the CLI."""
