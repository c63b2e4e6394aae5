"""Evaluation of requests against policies: facts, compiled plans, Kleene logic, decisions."""
