"""rea.app — the composition root: settings, CLI (`rea`), service (DESIGN.md §2)."""
