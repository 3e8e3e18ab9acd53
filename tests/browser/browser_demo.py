"""What the browser tests' demo registry holds beyond ``kyphos demo`` (see conftest.py)."""

DEMO_PASSWORD = "kyphos-demo-password"
IDENTITY_PATIENT = "DEMO-000001"
IDENTITY_NAME = "Zhang Wei"
IDENTITY_NUMBER = "H-000123"
