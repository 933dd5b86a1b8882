"""The test corp's callback settings: its corp id, token and EncodingAESKey (no imports, for light fixtures)."""

CORP_ID = "wwkaohetest0001"
TOKEN = "kaoheToken1"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
