"""One .ics file with a recurring master, a moved occurrence, a timed and an all-day event:
parsed by the parser tests and imported by the import service tests."""

ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
X-WR-TIMEZONE:Europe/Berlin
BEGIN:VEVENT
UID:weekly@example.com
DTSTART;TZID=Europe/Berlin:20261207T100000
DTEND;TZID=Europe/Berlin:20261207T110000
RRULE:FREQ=WEEKLY;COUNT=4
EXDATE;TZID=Europe/Berlin:20261221T100000
SUMMARY:Weekly
ORGANIZER;CN=Alice:mailto:alice@example.com
ATTENDEE;ROLE=OPT-PARTICIPANT;PARTSTAT=ACCEPTED;CN=Bob:mailto:bob@example.com
END:VEVENT
BEGIN:VEVENT
UID:weekly@example.com
RECURRENCE-ID;TZID=Europe/Berlin:20261214T100000
DTSTART;TZID=Europe/Berlin:20261214T150000
DTEND;TZID=Europe/Berlin:20261214T160000
SUMMARY:Weekly (moved)
END:VEVENT
BEGIN:VEVENT
UID:lunch@example.com
DTSTART:20261208T120000Z
DTEND:20261208T130000Z
SUMMARY:Lunch
DESCRIPTION:long
  folded line
END:VEVENT
BEGIN:VEVENT
UID:holiday@example.com
DTSTART;VALUE=DATE:20261224
SUMMARY:Holiday
TRANSP:TRANSPARENT
END:VEVENT
END:VCALENDAR
"""
