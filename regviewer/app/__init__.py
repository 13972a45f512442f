"""The application model: plain Python objects (no Qt) that the window shows and session files save."""
