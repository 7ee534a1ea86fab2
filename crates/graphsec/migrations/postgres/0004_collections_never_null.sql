-- A collection is never null: profiles stored with "tags" or "accounts" null get []. Each is a
-- top-level member followed by the next declared one, which makes the replaced text unique.
UPDATE profiles
    SET wire = replace(wire, '"accounts":null,"azureSubscriptionId":', '"accounts":[],"azureSubscriptionId":'),
        doc = jsonb_set(doc, '{accounts}', '[]'::jsonb)
    WHERE doc -> 'accounts' = 'null'::jsonb;
UPDATE profiles
    SET wire = replace(wire, '"tags":null,"userPrincipalName":', '"tags":[],"userPrincipalName":'),
        doc = jsonb_set(doc, '{tags}', '[]'::jsonb)
    WHERE doc -> 'tags' = 'null'::jsonb;
