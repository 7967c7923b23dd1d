"""Every message on every topic and every HTTP body, defined once."""
