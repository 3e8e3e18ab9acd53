"""Files in and out of the registry: the canonical workbook and de-identified exports."""
