-- Who on the program staff made an override (decided_by = 'staff'); the reason is already kept.
ALTER TABLE decisions ADD COLUMN staff_member text;
