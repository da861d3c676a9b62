"""Demo data for ``grappe demo`` (filled in slice 5)."""


def create_demo_data(clusters, rng) -> None:
    return None
