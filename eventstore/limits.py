"""How long any database wait may last: the bounds every connection of the product keeps."""

# How long one use of a connection may last before the watchdog cuts it (seconds); the
# server's statement timeout is the same. Covers the table lock's wait (5 s) and the insert.
STATEMENT_SECONDS = 8.0
# How long a read-model query may take (the answer is then 503).
READ_SECONDS = 8.0
# A new connection that does not complete its start-up in time fails (libpq's smallest
# effective value is 2 s).
CONNECT_SECONDS = 2
# TCP keepalives: a dead peer is noticed after about idle + interval × count seconds.
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    # Data sent and not acknowledged for this long (ms) ends the connection.
    "tcp_user_timeout": 10_000,
}
