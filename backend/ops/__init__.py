"""Operations: the CLI, `wx doctor`, start-up checks, the dashboard's figures, metrics and logs."""
