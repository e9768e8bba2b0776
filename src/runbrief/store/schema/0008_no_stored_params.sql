-- A log line's parameters are no longer stored: they are the line minus its pattern's
-- template, both stored already, and are read back when a line is shown
-- (runbrief.distill.params). Slicing and storing them cost ~2 us a record at ingest.
ALTER TABLE logs DROP COLUMN IF EXISTS params;
