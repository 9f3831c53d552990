"""Operations: run log and alerting."""
