// Package wire implements the MySQL/MariaDB client/server protocol on the
// proxy's hot path: packet framing (plain, compressed and TLS), the OK/ERR/EOF
// and result-set codecs, the server-side handshake that authenticates clients
// locally (Accept) and the client-side handshake to backends (Dial).
//
// Steady-state reads and writes allocate nothing: a Conn owns one read and
// one write buffer and returns payloads that point into its read buffer.
package wire

// MaxPayload is the largest payload of one physical packet. A logical packet
// of MaxPayload bytes or more continues in the next physical packet.
const MaxPayload = 1<<24 - 1

// Capability flags (the low 32 bits negotiated in the handshake).
const (
	ClientLongPassword              uint32 = 1 << 0 // also "CLIENT_MYSQL": cleared by MariaDB servers that send extended caps
	ClientFoundRows                 uint32 = 1 << 1
	ClientLongFlag                  uint32 = 1 << 2
	ClientConnectWithDB             uint32 = 1 << 3
	ClientNoSchema                  uint32 = 1 << 4
	ClientCompress                  uint32 = 1 << 5
	ClientODBC                      uint32 = 1 << 6
	ClientLocalFiles                uint32 = 1 << 7
	ClientIgnoreSpace               uint32 = 1 << 8
	ClientProtocol41                uint32 = 1 << 9
	ClientInteractive               uint32 = 1 << 10
	ClientSSL                       uint32 = 1 << 11
	ClientIgnoreSigpipe             uint32 = 1 << 12
	ClientTransactions              uint32 = 1 << 13
	ClientReserved                  uint32 = 1 << 14
	ClientSecureConnection          uint32 = 1 << 15
	ClientMultiStatements           uint32 = 1 << 16
	ClientMultiResults              uint32 = 1 << 17
	ClientPSMultiResults            uint32 = 1 << 18
	ClientPluginAuth                uint32 = 1 << 19
	ClientConnectAttrs              uint32 = 1 << 20
	ClientPluginAuthLenencData      uint32 = 1 << 21
	ClientCanHandleExpiredPasswords uint32 = 1 << 22
	ClientSessionTrack              uint32 = 1 << 23
	ClientDeprecateEOF              uint32 = 1 << 24
	ClientOptionalResultsetMetadata uint32 = 1 << 25
	ClientZstdCompression           uint32 = 1 << 26
	ClientQueryAttributes           uint32 = 1 << 27
	ClientSSLVerifyServerCert       uint32 = 1 << 30
	ClientRememberOptions           uint32 = 1 << 31
)

// MariaDB extended capabilities: bits 32..63 of MariaDB's 64-bit capability
// set, carried in the handshake's filler bytes when ClientLongPassword
// ("CLIENT_MYSQL") is clear. Stored here shifted down to a uint32.
const (
	MariaDBClientProgress           uint32 = 1 << 0
	MariaDBClientComMulti           uint32 = 1 << 1
	MariaDBClientStmtBulkOperations uint32 = 1 << 2
	MariaDBClientExtendedMetadata   uint32 = 1 << 3
	MariaDBClientCacheMetadata      uint32 = 1 << 4
	MariaDBClientBulkUnitResults    uint32 = 1 << 5
)

// Command bytes: the first payload byte of every client command.
const (
	ComSleep            byte = 0x00
	ComQuit             byte = 0x01
	ComInitDB           byte = 0x02
	ComQuery            byte = 0x03
	ComFieldList        byte = 0x04
	ComCreateDB         byte = 0x05
	ComDropDB           byte = 0x06
	ComRefresh          byte = 0x07
	ComShutdown         byte = 0x08
	ComStatistics       byte = 0x09
	ComProcessInfo      byte = 0x0a
	ComConnect          byte = 0x0b
	ComProcessKill      byte = 0x0c
	ComDebug            byte = 0x0d
	ComPing             byte = 0x0e
	ComTime             byte = 0x0f
	ComDelayedInsert    byte = 0x10
	ComChangeUser       byte = 0x11
	ComBinlogDump       byte = 0x12
	ComTableDump        byte = 0x13
	ComConnectOut       byte = 0x14
	ComRegisterSlave    byte = 0x15
	ComStmtPrepare      byte = 0x16
	ComStmtExecute      byte = 0x17
	ComStmtSendLongData byte = 0x18
	ComStmtClose        byte = 0x19
	ComStmtReset        byte = 0x1a
	ComSetOption        byte = 0x1b
	ComStmtFetch        byte = 0x1c
	ComDaemon           byte = 0x1d
	ComBinlogDumpGTID   byte = 0x1e
	ComResetConnection  byte = 0x1f
	ComStmtBulkExecute  byte = 0xfa // MariaDB
)

// COM_SET_OPTION arguments.
const (
	OptionMultiStatementsOn  uint16 = 0
	OptionMultiStatementsOff uint16 = 1
)

// Server status flags carried by OK and EOF packets.
const (
	StatusInTrans             uint16 = 1 << 0
	StatusAutocommit          uint16 = 1 << 1
	StatusMoreResultsExists   uint16 = 1 << 3
	StatusNoGoodIndexUsed     uint16 = 1 << 4
	StatusNoIndexUsed         uint16 = 1 << 5
	StatusCursorExists        uint16 = 1 << 6
	StatusLastRowSent         uint16 = 1 << 7
	StatusDBDropped           uint16 = 1 << 8
	StatusNoBackslashEscapes  uint16 = 1 << 9
	StatusMetadataChanged     uint16 = 1 << 10
	StatusQueryWasSlow        uint16 = 1 << 11
	StatusPSOutParams         uint16 = 1 << 12
	StatusInTransReadOnly     uint16 = 1 << 13
	StatusSessionStateChanged uint16 = 1 << 14
)

// Session-state tracker entry types in an OK packet's session state.
const (
	SessionTrackSystemVariables            byte = 0
	SessionTrackSchema                     byte = 1
	SessionTrackStateChange                byte = 2
	SessionTrackGTIDs                      byte = 3
	SessionTrackTransactionCharacteristics byte = 4
	SessionTrackTransactionState           byte = 5
)

// Packet header bytes.
const (
	HeaderOK          byte = 0x00
	HeaderLocalInfile byte = 0xfb
	HeaderEOF         byte = 0xfe
	HeaderErr         byte = 0xff
)

// Column types of the text and binary protocols.
const (
	TypeDecimal    byte = 0x00
	TypeTiny       byte = 0x01
	TypeShort      byte = 0x02
	TypeLong       byte = 0x03
	TypeFloat      byte = 0x04
	TypeDouble     byte = 0x05
	TypeNull       byte = 0x06
	TypeTimestamp  byte = 0x07
	TypeLongLong   byte = 0x08
	TypeInt24      byte = 0x09
	TypeDate       byte = 0x0a
	TypeTime       byte = 0x0b
	TypeDateTime   byte = 0x0c
	TypeYear       byte = 0x0d
	TypeNewDate    byte = 0x0e
	TypeVarchar    byte = 0x0f
	TypeBit        byte = 0x10
	TypeJSON       byte = 0xf5
	TypeNewDecimal byte = 0xf6
	TypeEnum       byte = 0xf7
	TypeSet        byte = 0xf8
	TypeTinyBlob   byte = 0xf9
	TypeMediumBlob byte = 0xfa
	TypeLongBlob   byte = 0xfb
	TypeBlob       byte = 0xfc
	TypeVarString  byte = 0xfd
	TypeString     byte = 0xfe
	TypeGeometry   byte = 0xff
)

// Column definition flags.
const (
	FlagNotNull       uint16 = 1 << 0
	FlagPriKey        uint16 = 1 << 1
	FlagUniqueKey     uint16 = 1 << 2
	FlagMultipleKey   uint16 = 1 << 3
	FlagBlob          uint16 = 1 << 4
	FlagUnsigned      uint16 = 1 << 5
	FlagZerofill      uint16 = 1 << 6
	FlagBinary        uint16 = 1 << 7
	FlagEnum          uint16 = 1 << 8
	FlagAutoIncrement uint16 = 1 << 9
	FlagTimestamp     uint16 = 1 << 10
	FlagSet           uint16 = 1 << 11
	FlagNoDefault     uint16 = 1 << 12
	FlagNum           uint16 = 1 << 15
)

// Character sets (collation ids) the proxy names itself.
const (
	CharsetUTF8MB4GeneralCI uint8 = 45
	CharsetBinary           uint8 = 63
	CharsetUTF8GeneralCI    uint8 = 33
	CharsetLatin1SwedishCI  uint8 = 8
)

// Well-known server error codes.
const (
	ErrConCount                uint16 = 1040 // ER_CON_COUNT_ERROR, "Too many connections"
	ErrHandshake               uint16 = 1043 // ER_HANDSHAKE_ERROR, "Bad handshake"
	ErrDBAccessDenied          uint16 = 1044 // ER_DBACCESS_DENIED_ERROR
	ErrAccessDenied            uint16 = 1045 // ER_ACCESS_DENIED_ERROR
	ErrNoDB                    uint16 = 1046 // ER_NO_DB_ERROR
	ErrUnknownCom              uint16 = 1047 // ER_UNKNOWN_COM_ERROR
	ErrBadDB                   uint16 = 1049 // ER_BAD_DB_ERROR
	ErrServerShutdown          uint16 = 1053 // ER_SERVER_SHUTDOWN
	ErrNetReadError            uint16 = 1158 // ER_NET_READ_ERROR
	ErrNetPacketTooLarge       uint16 = 1153 // ER_NET_PACKET_TOO_LARGE
	ErrUnknownStmt             uint16 = 1243 // ER_UNKNOWN_STMT_HANDLER
	ErrLockWaitTimeout         uint16 = 1205 // ER_LOCK_WAIT_TIMEOUT
	ErrLockDeadlock            uint16 = 1213 // ER_LOCK_DEADLOCK
	ErrOptionPreventsStatement uint16 = 1290 // ER_OPTION_PREVENTS_STATEMENT (read_only)
	ErrQueryInterrupted        uint16 = 1317 // ER_QUERY_INTERRUPTED
	ErrNotSupportedAuthMode    uint16 = 1251 // ER_NOT_SUPPORTED_AUTH_MODE
	ErrSecureTransportRequired uint16 = 3159 // ER_SECURE_TRANSPORT_REQUIRED (MySQL); MariaDB uses 1045
	ErrClientLostConnection    uint16 = 2013 // CR_SERVER_LOST, client-side code
	ErrClientServerGone        uint16 = 2006 // CR_SERVER_GONE_ERROR, client-side code
)
