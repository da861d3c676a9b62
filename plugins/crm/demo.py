"""Demo data for ``grappe demo`` (filled in slice 7)."""


def create_demo_data(clusters, rng) -> None:
    return None
