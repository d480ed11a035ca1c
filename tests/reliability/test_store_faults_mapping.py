"""Which driver errors are store faults (one StoreError), and what a turn says about a fault."""

import psycopg
import psycopg.errors as pg_errors
import pytest
import redis.exceptions as redis_errors
from psycopg_pool import PoolTimeout

from memory.errors import StoreError
from memory.store_faults import in_turn, postgres_faults, redis_faults


@pytest.mark.parametrize(
    "error",
    [
        pg_errors.AdminShutdown("terminating connection due to administrator command"),
        pg_errors.CannotConnectNow("the database system is starting up"),
        pg_errors.TooManyConnections("sorry, too many clients already"),
        psycopg.OperationalError("server closed the connection unexpectedly"),
        psycopg.InterfaceError("the connection is closed"),
        PoolTimeout("couldn't get a connection after 10.00 sec"),
    ],
)
async def test_a_postgres_that_went_away_is_one_store_error(error: Exception) -> None:
    with pytest.raises(StoreError, match="the database was unreachable") as info:
        async with postgres_faults():
            raise error
    assert info.value.__cause__ is error


@pytest.mark.parametrize(
    "error", [pg_errors.DeadlockDetected("deadlock"), pg_errors.QueryCanceled("canceled"), pg_errors.UniqueViolation()]
)
async def test_errors_about_one_statement_pass_through(error: Exception) -> None:
    """A deadlock is retried by its caller (forgetting does), a constraint is the caller's to handle."""
    with pytest.raises(type(error)):
        async with postgres_faults():
            raise error


@pytest.mark.parametrize(
    "error",
    [
        redis_errors.ConnectionError("Error 111 connecting to unix:///x/redis.sock. Connection refused."),
        redis_errors.BusyLoadingError("Redis is loading the dataset in memory"),
        redis_errors.TimeoutError("Timeout reading from socket"),
    ],
)
async def test_a_redis_that_went_away_is_one_store_error(error: Exception) -> None:
    with pytest.raises(StoreError, match=r"Redis \(short-term memory\) was unreachable"):
        async with redis_faults():
            raise error


async def test_a_password_in_a_url_is_never_shown() -> None:
    with pytest.raises(StoreError) as info:
        async with redis_faults():
            raise redis_errors.ConnectionError("Error connecting to redis://ann:s3cret@cache:6379")
    assert "s3cret" not in str(info.value)


def test_a_turn_says_whether_the_message_was_saved() -> None:
    fault = StoreError("the database was unreachable (x)", hint="try again")
    assert str(in_turn(fault, saved=False)).endswith("your message was not saved (try again)")
    assert "your message was saved" in str(in_turn(fault, saved=True))
