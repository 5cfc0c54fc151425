"""What every test tier shares: polling, starting a system, reading its state."""
