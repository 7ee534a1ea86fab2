-- Tags are kept twice, each for what it answers cheaply:
-- * profile_tags, one b-tree keyed (tenant, tag, id) with one row per distinct string element:
--   `tags/any(t: t eq 'X')` is a point lookup per profile, and each tag costs one insert (the
--   table it replaces needed a row and an index entry);
-- * profiles.tags_json, the string elements as a JSON array (NULL when there are none): every
--   other lambda over tags and `tags/$count` read it rather than parse the whole document.
CREATE TABLE profile_tags_by_tag (
    tenant TEXT NOT NULL,
    tag TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (tenant, tag, id)
) WITHOUT ROWID;
INSERT OR IGNORE INTO profile_tags_by_tag (tenant, tag, id) SELECT tenant, tag, id FROM profile_tags;
DROP TABLE profile_tags;
ALTER TABLE profile_tags_by_tag RENAME TO profile_tags;

ALTER TABLE profiles ADD COLUMN tags_json TEXT;
UPDATE profiles SET tags_json = (
    SELECT json_group_array(value) FROM json_each(doc, '$.tags') WHERE type = 'text'
) WHERE EXISTS (SELECT 1 FROM json_each(doc, '$.tags') WHERE type = 'text')
    AND json_type(doc, '$.tags') = 'array';
