"""The tamper-evident alarm journal: the hash chain in SQLite (`chain`), its
anchors outside the data folder (`anchors`, `anchoring`) and its exports
(`export`). docs/alarms.md, "Journal"."""
