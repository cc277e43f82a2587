-- OCR (issue 19): where each OCR'd line of a chunk sits on its page, for citations that point at
-- the page image: a JSON array of {"start", "end", "page", "box": [left, top, right, bottom],
-- "width", "height"} (offsets into the document's text, pixels of the page image as OCR'd).
-- NULL for chunks of born-digital text. Additive only (expand step).
ALTER TABLE chunks ADD COLUMN IF NOT EXISTS boxes jsonb;
