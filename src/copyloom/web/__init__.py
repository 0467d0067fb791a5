"""HTTP: the content endpoint, the open pixel, the events webhook, health; errors mapped in one place."""
