"""Money is integer cents everywhere; this is the one place it becomes text."""


def format_usd(cents: int) -> str:
    """`180000` -> `$1,800.00`; negative amounts get a leading minus."""
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}${dollars:,}.{rest:02d}"
