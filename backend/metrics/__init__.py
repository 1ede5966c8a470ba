"""Per-platform performance: parsing platform exports, attribution, snapshots, rollups and reports."""
