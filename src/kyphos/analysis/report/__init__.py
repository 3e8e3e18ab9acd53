"""Rendering the study report: JSON (the contract of DATA.md §2), Markdown, CSV, HTML, DOCX."""
