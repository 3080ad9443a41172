"""Django views, models and tools for WebSockets served through AWS API Gateway."""
