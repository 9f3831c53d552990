"""Model evaluation helpers shared by train_eval, scoring and reporting."""
