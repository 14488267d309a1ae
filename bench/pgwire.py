"""A minimal asyncio PostgreSQL client (pgdeploy benchmark, standard library only).

Enough to poll "where does this PgBouncer lead?" many times a second without
starting a psql process per poll: startup, trust / cleartext / MD5 /
SCRAM-SHA-256 authentication, one simple query, the first column of the first
row. The SCRAM salted password is cached per (password, salt, iterations), so
a poll costs a few HMACs, not PBKDF2.
"""

import asyncio
import base64
import hashlib
import hmac
import os
import struct

_salted_cache = {}


class PgError(Exception):
    pass


def _msg(kind, payload):
    return kind + struct.pack('!I', len(payload) + 4) + payload


async def _read_msg(reader):
    head = await reader.readexactly(5)
    kind, length = head[:1], struct.unpack('!I', head[1:])[0]
    return kind, await reader.readexactly(length - 4)


def _error_text(payload):
    fields = {}
    for part in payload.split(b'\0'):
        if part:
            fields[part[:1]] = part[1:].decode(errors='replace')
    return fields.get(b'M', 'error')


def _salted(password, salt, iterations):
    key = (password, salt, iterations)
    if key not in _salted_cache:
        _salted_cache[key] = hashlib.pbkdf2_hmac('sha256', password.encode(), salt, iterations)
    return _salted_cache[key]


async def connect(host, port, user, database, password=None):
    """Open and authenticate a connection; returns (reader, writer)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        params = b''.join(k.encode() + b'\0' + v.encode() + b'\0'
                          for k, v in (('user', user), ('database', database),
                                       ('application_name', 'pgdeploy-bench')))
        body = struct.pack('!I', 196608) + params + b'\0'
        writer.write(struct.pack('!I', len(body) + 4) + body)
        await writer.drain()
        scram = None
        while True:
            kind, payload = await _read_msg(reader)
            if kind == b'E':
                raise PgError(_error_text(payload))
            if kind == b'Z':
                return reader, writer
            if kind != b'R':
                continue
            code = struct.unpack('!I', payload[:4])[0]
            if code == 0:
                continue
            if password is None:
                raise PgError('server asks for a password')
            if code == 3:
                writer.write(_msg(b'p', password.encode() + b'\0'))
            elif code == 5:
                inner = hashlib.md5(password.encode() + user.encode()).hexdigest()
                outer = hashlib.md5(inner.encode() + payload[4:8]).hexdigest()
                writer.write(_msg(b'p', b'md5' + outer.encode() + b'\0'))
            elif code == 10:
                nonce = base64.b64encode(os.urandom(18)).decode()
                first_bare = f'n=,r={nonce}'
                first = ('n,,' + first_bare).encode()
                writer.write(_msg(b'p', b'SCRAM-SHA-256\0' + struct.pack('!I', len(first)) + first))
                scram = (nonce, first_bare)
            elif code == 11:
                server_first = payload[4:].decode()
                attrs = dict(item.split('=', 1) for item in server_first.split(','))
                if not attrs['r'].startswith(scram[0]):
                    raise PgError('SCRAM nonce mismatch')
                salted = _salted(password, base64.b64decode(attrs['s']), int(attrs['i']))
                client_key = hmac.digest(salted, b'Client Key', 'sha256')
                stored_key = hashlib.sha256(client_key).digest()
                final_bare = f'c=biws,r={attrs["r"]}'
                auth_message = f'{scram[1]},{server_first},{final_bare}'.encode()
                signature = hmac.digest(stored_key, auth_message, 'sha256')
                proof = bytes(a ^ b for a, b in zip(client_key, signature))
                writer.write(_msg(b'p', f'{final_bare},p={base64.b64encode(proof).decode()}'.encode()))
            elif code == 12:
                continue
            else:
                raise PgError(f'unsupported authentication request {code}')
            await writer.drain()
    except BaseException:
        writer.close()
        raise


async def query_one(reader, writer, sql):
    """Run sql; return the first column of the first row as text (None if no row)."""
    writer.write(_msg(b'Q', sql.encode() + b'\0'))
    await writer.drain()
    value, error = None, None
    while True:
        kind, payload = await _read_msg(reader)
        if kind == b'D' and value is None:
            ncols = struct.unpack('!H', payload[:2])[0]
            if ncols:
                length = struct.unpack('!i', payload[2:6])[0]
                value = None if length < 0 else payload[6:6 + length].decode()
        elif kind == b'E':
            error = _error_text(payload)
        elif kind == b'Z':
            if error:
                raise PgError(error)
            return value


def close(writer):
    try:
        writer.write(_msg(b'X', b''))
    except Exception:
        pass
    writer.close()


async def fetch(host, port, user, database, sql, password=None, timeout=2.0):
    """connect + query_one + close, all within timeout."""
    async def once():
        reader, writer = await connect(host, port, user, database, password)
        try:
            return await query_one(reader, writer, sql)
        finally:
            close(writer)
    return await asyncio.wait_for(once(), timeout)
