"""How a start treats an existing run (the resume policy), and starting from another run's weights."""
