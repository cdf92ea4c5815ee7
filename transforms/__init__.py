"""Pure feature transforms shared by the batch backfill, the stream ingester and on-demand views."""
