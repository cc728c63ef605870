-- A contact's rows across campaigns (issue 16): the claim checks that no other campaign has the
-- contact in flight, and deleting a contact cascades here; both scanned the whole table without
-- it (10 ms a dial at 100,000 enrolled contacts).
CREATE INDEX campaign_contacts_contact ON campaign_contacts(contact_id);
