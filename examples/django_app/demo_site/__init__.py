"""A minimal Django project whose sessions live in Redis through hasession."""
