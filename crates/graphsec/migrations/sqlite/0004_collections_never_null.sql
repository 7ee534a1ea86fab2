-- A collection is never null: profiles stored with "tags" or "accounts" null get []. Each is a
-- top-level member followed by the next declared one, which makes the replaced text unique.
UPDATE profiles SET doc = replace(doc, '"accounts":null,"azureSubscriptionId":', '"accounts":[],"azureSubscriptionId":')
    WHERE json_type(doc, '$.accounts') = 'null';
UPDATE profiles SET doc = replace(doc, '"tags":null,"userPrincipalName":', '"tags":[],"userPrincipalName":')
    WHERE json_type(doc, '$.tags') = 'null';
