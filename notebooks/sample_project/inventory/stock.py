"""Stock levels in SQLite."""

import sqlite3
from pathlib import Path


class Stock:
    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path)
        self.db.execute("CREATE TABLE IF NOT EXISTS stock (sku TEXT PRIMARY KEY, quantity INTEGER NOT NULL)")

    def add(self, sku: str, quantity: int) -> None:
        if quantity <= 0:
            raise ValueError("quantity must be positive")
        self.db.execute(
            "INSERT INTO stock VALUES (?, ?) ON CONFLICT(sku) DO UPDATE SET quantity = quantity + excluded.quantity",
            (sku, quantity),
        )
        self.db.commit()

    def remove(self, sku: str, quantity: int) -> None:
        (current,) = self.db.execute("SELECT quantity FROM stock WHERE sku = ?", (sku,)).fetchone() or (0,)
        if current < quantity:
            raise ValueError(f"only {current} of {sku} in stock")
        self.db.execute("UPDATE stock SET quantity = quantity - ? WHERE sku = ?", (quantity, sku))
        self.db.commit()
