#!/usr/bin/env python
"""Run the hasession Django example: ``HASESSION_URL=redis://localhost:6379/0 python manage.py runserver``."""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_site.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
