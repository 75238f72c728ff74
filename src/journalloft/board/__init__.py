"""The reference legevakt board: a client of the API, served by ``journalloft board``."""
