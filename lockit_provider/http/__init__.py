"""HTTP building blocks shared by the sync and async hooks: retry decisions."""
