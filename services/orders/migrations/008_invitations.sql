-- Invitations are emailed. `invited_at`: when the latest invitation was sent (a resend moves it; kept once
-- the member joins). `invitation_version`: how many times it was sent; with the member id it makes each
-- email's idempotency key (`invitation:<member id>:<version>`), so a resend is a new email and a
-- redelivery of one is not. Members added with their subject already bound were never invited (0).
ALTER TABLE members ADD COLUMN invited_at timestamptz;
ALTER TABLE members ADD COLUMN invitation_version integer NOT NULL DEFAULT 0 CHECK (invitation_version >= 0);
UPDATE members SET invited_at = created_at, invitation_version = 1 WHERE status = 'invited';
