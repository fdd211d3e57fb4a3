"""SME and expert profiles, their organisations and evidence."""
