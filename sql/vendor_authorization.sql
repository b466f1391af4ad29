-- Which vendor types may supply a (sector, category); a pair no row names is open to all
-- (the rule is resq.core.sourcing.authorized).
SELECT sector, category, vendor_type, authorized
FROM vendor_authorization
ORDER BY sector, category, vendor_type;
