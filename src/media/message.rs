//! The STUN and TURN messages the media check sends and the replies it understands, encoded and
//! parsed with the webrtc-rs `stun` crate.

use std::net::SocketAddr;

use stun::agent::TransactionId;
use stun::attributes::{
    ATTR_NONCE, ATTR_REALM, ATTR_REQUESTED_TRANSPORT, ATTR_SOFTWARE, ATTR_XORMAPPED_ADDRESS,
};
use stun::error_code::ErrorCodeAttribute;
use stun::message::{
    BINDING_REQUEST, CLASS_ERROR_RESPONSE, CLASS_REQUEST, CLASS_SUCCESS_RESPONSE, Getter,
    METHOD_ALLOCATE, METHOD_BINDING, Message, MessageType, Setter,
};
use stun::textattrs::TextAttribute;
use stun::xoraddr::XorMappedAddress;

/// UDP's IANA protocol number, the value of REQUESTED-TRANSPORT that the softphone's relay needs.
const PROTO_UDP: u8 = 17;

/// The largest reply read; a longer datagram is truncated and then fails to parse.
pub const MAX_DATAGRAM: usize = 1500;

/// Which request a reply answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Binding,
    Allocate,
}

/// What a relay answered, reduced to what the diagnosis needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A Binding success: the address the server saw us from, if it said.
    BindingSuccess { mapped: Option<SocketAddr> },
    /// An Allocate success without credentials: an open relay.
    AllocateSuccess,
    /// An error response, with the realm and nonce a 401 challenge carries.
    Error {
        request: Request,
        code: u16,
        reason: String,
        realm: Option<String>,
        nonce: Option<String>,
    },
}

/// A reply that could not be understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Malformed(pub String);

struct RequestedTransport;

impl Setter for RequestedTransport {
    fn add_to(&self, m: &mut Message) -> Result<(), stun::Error> {
        // RFC 8656 §18.7: protocol number, then three reserved bytes.
        m.add(ATTR_REQUESTED_TRANSPORT, &[PROTO_UDP, 0, 0, 0]);
        Ok(())
    }
}

struct Software;

impl Setter for Software {
    fn add_to(&self, m: &mut Message) -> Result<(), stun::Error> {
        m.add(
            ATTR_SOFTWARE,
            concat!("connect-preflight ", env!("CARGO_PKG_VERSION")).as_bytes(),
        );
        Ok(())
    }
}

fn encode(id: [u8; 12], setters: Vec<Box<dyn Setter>>) -> Vec<u8> {
    let mut m = Message::new();
    let mut all: Vec<Box<dyn Setter>> = vec![Box::new(TransactionId(id))];
    all.extend(setters);
    m.build(&all)
        .expect("building a request from fixed parts cannot fail");
    m.raw
}

/// A Binding request (RFC 8489).
pub fn binding(id: [u8; 12]) -> Vec<u8> {
    encode(id, vec![Box::new(BINDING_REQUEST), Box::new(Software)])
}

/// An Allocate request without credentials (RFC 8656): a real TURN server answers 401 with a
/// realm and a nonce, which proves the UDP path works in both directions.
pub fn allocate(id: [u8; 12]) -> Vec<u8> {
    encode(
        id,
        vec![
            Box::new(MessageType::new(METHOD_ALLOCATE, CLASS_REQUEST)),
            Box::new(RequestedTransport),
            Box::new(Software),
        ],
    )
}

/// A fresh random transaction ID.
pub fn new_id() -> [u8; 12] {
    TransactionId::new().0
}

/// Parses a datagram into its transaction ID and the reply it carries.
pub fn parse(bytes: &[u8]) -> Result<([u8; 12], Reply), Malformed> {
    if !stun::message::is_message(bytes) {
        return Err(Malformed(format!(
            "{} bytes that are not a STUN message",
            bytes.len()
        )));
    }
    let mut m = Message::new();
    m.unmarshal_binary(bytes)
        .map_err(|e| Malformed(format!("a broken STUN message ({e})")))?;
    let id = m.transaction_id.0;
    let request = match m.typ.method {
        METHOD_BINDING => Request::Binding,
        METHOD_ALLOCATE => Request::Allocate,
        other => {
            return Err(Malformed(format!(
                "a STUN message of unexpected method {other}"
            )));
        }
    };
    let reply = match (m.typ.class, request) {
        (CLASS_SUCCESS_RESPONSE, Request::Binding) => {
            let mut mapped = XorMappedAddress::default();
            let mapped = mapped
                .get_from_as(&m, ATTR_XORMAPPED_ADDRESS)
                .ok()
                .map(|()| SocketAddr::new(mapped.ip, mapped.port));
            Reply::BindingSuccess { mapped }
        }
        (CLASS_SUCCESS_RESPONSE, Request::Allocate) => Reply::AllocateSuccess,
        (CLASS_ERROR_RESPONSE, request) => {
            let mut error = ErrorCodeAttribute::default();
            error.get_from(&m).map_err(|e| {
                Malformed(format!(
                    "an error response without a valid ERROR-CODE ({e})"
                ))
            })?;
            let text = |attr| TextAttribute::get_from_as(&m, attr).ok().map(|t| t.text);
            Reply::Error {
                request,
                code: error.code.0,
                reason: String::from_utf8_lossy(&error.reason).into_owned(),
                realm: text(ATTR_REALM),
                nonce: text(ATTR_NONCE),
            }
        }
        _ => {
            return Err(Malformed(
                "a STUN request or indication where a response was expected".to_owned(),
            ));
        }
    };
    Ok((id, reply))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use stun::message::BINDING_SUCCESS;

    /// A server's answer, for the in-process relays of the tests.
    pub(crate) fn respond(
        request: &[u8],
        peer: SocketAddr,
        allocate_answer: &AllocateAnswer,
    ) -> Option<Vec<u8>> {
        let mut m = Message::new();
        m.unmarshal_binary(request).ok()?;
        let id = m.transaction_id;
        let mut out = Message::new();
        let setters: Vec<Box<dyn Setter>> = match m.typ.method {
            METHOD_BINDING => vec![
                Box::new(id),
                Box::new(BINDING_SUCCESS),
                Box::new(XorMappedAddress {
                    ip: peer.ip(),
                    port: peer.port(),
                }),
            ],
            METHOD_ALLOCATE => match allocate_answer {
                AllocateAnswer::Challenge { nonce } => {
                    let mut s: Vec<Box<dyn Setter>> = vec![
                        Box::new(id),
                        Box::new(MessageType::new(METHOD_ALLOCATE, CLASS_ERROR_RESPONSE)),
                        Box::new(ErrorCodeAttribute {
                            code: stun::error_code::CODE_UNAUTHORIZED,
                            reason: b"Unauthorized".to_vec(),
                        }),
                        Box::new(TextAttribute::new(ATTR_REALM, "lab.example".to_owned())),
                    ];
                    if *nonce {
                        s.push(Box::new(TextAttribute::new(
                            ATTR_NONCE,
                            "a1b2c3d4".to_owned(),
                        )));
                    }
                    s
                }
                AllocateAnswer::Error(code) => vec![
                    Box::new(id),
                    Box::new(MessageType::new(METHOD_ALLOCATE, CLASS_ERROR_RESPONSE)),
                    Box::new(ErrorCodeAttribute {
                        code: stun::error_code::ErrorCode(*code),
                        reason: b"Forbidden".to_vec(),
                    }),
                ],
                AllocateAnswer::Success => vec![
                    Box::new(id),
                    Box::new(MessageType::new(METHOD_ALLOCATE, CLASS_SUCCESS_RESPONSE)),
                ],
            },
            _ => return None,
        };
        out.build(&setters).ok()?;
        Some(out.raw)
    }

    #[derive(Clone, Debug)]
    pub(crate) enum AllocateAnswer {
        Challenge { nonce: bool },
        Error(u16),
        Success,
    }

    #[test]
    fn requests_round_trip_through_a_server() {
        let peer: SocketAddr = "203.0.113.7:40000".parse().unwrap();
        let id = new_id();
        let answer = respond(&binding(id), peer, &AllocateAnswer::Success).unwrap();
        assert_eq!(
            parse(&answer).unwrap(),
            (id, Reply::BindingSuccess { mapped: Some(peer) })
        );
        let answer = respond(
            &allocate(id),
            peer,
            &AllocateAnswer::Challenge { nonce: true },
        )
        .unwrap();
        match parse(&answer).unwrap().1 {
            Reply::Error {
                request: Request::Allocate,
                code: 401,
                realm,
                nonce,
                ..
            } => {
                assert_eq!(
                    (realm.as_deref(), nonce.as_deref()),
                    (Some("lab.example"), Some("a1b2c3d4"))
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_allocate_asks_for_a_udp_relay() {
        let mut m = Message::new();
        m.unmarshal_binary(&allocate(new_id())).unwrap();
        assert_eq!(m.typ, MessageType::new(METHOD_ALLOCATE, CLASS_REQUEST));
        assert_eq!(m.get(ATTR_REQUESTED_TRANSPORT).unwrap(), [17, 0, 0, 0]);
    }

    #[test]
    fn garbage_is_malformed_never_a_panic() {
        let good = binding(new_id());
        for bad in [&b""[..], b"hello", &good[..good.len() - 1], &[0u8; 20][..]] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        // A request where a response belongs.
        assert!(parse(&good).is_err());
        // Every truncation and every single-byte corruption of a real answer parses or fails cleanly.
        let peer: SocketAddr = "[2001:db8::1]:3478".parse().unwrap();
        let answer = respond(
            &allocate(new_id()),
            peer,
            &AllocateAnswer::Challenge { nonce: true },
        )
        .unwrap();
        for cut in 0..answer.len() {
            let _ = parse(&answer[..cut]);
        }
        for i in 0..answer.len() {
            let mut copy = answer.clone();
            copy[i] ^= 0xff;
            let _ = parse(&copy);
        }
    }
}
