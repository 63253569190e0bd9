package sqsapi

import (
	"encoding/base64"
	"encoding/xml"
	"sort"
)

// Answer shapes. JSON field names follow the SQS JSON protocol; XML element
// names the query protocol (lists and maps are flattened there).

type queueURLResult struct {
	QueueUrl string `xml:"QueueUrl"`
}

type listQueuesResult struct {
	QueueUrls []string `json:"QueueUrls,omitempty" xml:"QueueUrl"`
	NextToken string   `json:"NextToken,omitempty" xml:"NextToken,omitempty"`
}

type deadLetterSourcesResult struct {
	QueueUrls []string `json:"queueUrls" xml:"QueueUrl"`
	NextToken string   `json:"NextToken,omitempty" xml:"NextToken,omitempty"`
}

type attributesResult struct {
	Attributes attrMap `json:"Attributes,omitempty" xml:"Attribute,omitempty"`
}

type tagsResult struct {
	Tags tagMap `json:"Tags,omitempty" xml:"Tag,omitempty"`
}

type sendResult struct {
	MessageId                    string `xml:"MessageId"`
	MD5OfMessageBody             string `xml:"MD5OfMessageBody"`
	MD5OfMessageAttributes       string `json:",omitempty" xml:",omitempty"`
	MD5OfMessageSystemAttributes string `json:",omitempty" xml:",omitempty"`
}

type sendBatchEntryOut struct {
	Id string `xml:"Id"`
	sendResult
}

type batchFailure struct {
	Id          string `xml:"Id"`
	SenderFault bool   `xml:"SenderFault"`
	Code        string `xml:"Code"`
	Message     string `json:",omitempty" xml:",omitempty"`
}

type sendBatchResult struct {
	Successful []sendBatchEntryOut `json:"Successful" xml:"SendMessageBatchResultEntry"`
	Failed     []batchFailure      `json:"Failed" xml:"BatchResultErrorEntry"`
}

type idEntry struct {
	Id string `xml:"Id"`
}

type deleteBatchResult struct {
	Successful []idEntry      `json:"Successful" xml:"DeleteMessageBatchResultEntry"`
	Failed     []batchFailure `json:"Failed" xml:"BatchResultErrorEntry"`
}

type changeBatchResult struct {
	Successful []idEntry      `json:"Successful" xml:"ChangeMessageVisibilityBatchResultEntry"`
	Failed     []batchFailure `json:"Failed" xml:"BatchResultErrorEntry"`
}

type messageOut struct {
	MessageId              string     `xml:"MessageId"`
	ReceiptHandle          string     `xml:"ReceiptHandle"`
	MD5OfBody              string     `xml:"MD5OfBody"`
	Body                   string     `xml:"Body"`
	Attributes             attrMap    `json:",omitempty" xml:"Attribute,omitempty"`
	MD5OfMessageAttributes string     `json:",omitempty" xml:",omitempty"`
	MessageAttributes      msgAttrMap `json:",omitempty" xml:"MessageAttribute,omitempty"`
}

type receiveResult struct {
	Messages []messageOut `json:"Messages,omitempty" xml:"Message"`
}

type startMoveResult struct {
	TaskHandle string `xml:"TaskHandle"`
}

type moveTaskOut struct {
	TaskHandle                        string `json:",omitempty" xml:",omitempty"`
	Status                            string `xml:"Status"`
	SourceArn                         string `xml:"SourceArn"`
	DestinationArn                    string `json:",omitempty" xml:",omitempty"`
	MaxNumberOfMessagesPerSecond      *int   `json:",omitempty" xml:",omitempty"`
	ApproximateNumberOfMessagesMoved  int64  `xml:"ApproximateNumberOfMessagesMoved"`
	ApproximateNumberOfMessagesToMove int64  `xml:"ApproximateNumberOfMessagesToMove"`
	FailureReason                     string `json:",omitempty" xml:",omitempty"`
	StartedTimestamp                  int64  `xml:"StartedTimestamp"`
}

type listMoveResult struct {
	Results []moveTaskOut `json:"Results" xml:"ListMessageMoveTasksResultEntry"`
}

type cancelMoveResult struct {
	ApproximateNumberOfMessagesMoved int64 `xml:"ApproximateNumberOfMessagesMoved"`
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// attrMap is a string map: a JSON object, or flattened
// <X><Name/><Value/></X> elements in XML.
type attrMap map[string]string

func (m attrMap) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	for _, k := range sortedKeys(m) {
		if err := e.EncodeElement(struct {
			Name  string `xml:"Name"`
			Value string `xml:"Value"`
		}{k, m[k]}, start); err != nil {
			return err
		}
	}
	return nil
}

// tagMap is a string map flattened as <Tag><Key/><Value/></Tag> in XML.
type tagMap map[string]string

func (m tagMap) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	for _, k := range sortedKeys(m) {
		if err := e.EncodeElement(struct {
			Key   string `xml:"Key"`
			Value string `xml:"Value"`
		}{k, m[k]}, start); err != nil {
			return err
		}
	}
	return nil
}

type attrOut struct {
	DataType    string
	StringValue *string `json:",omitempty"`
	BinaryValue []byte  `json:",omitempty"`
}

// msgAttrMap holds message attributes; in XML each is
// <MessageAttribute><Name/><Value><StringValue|BinaryValue/><DataType/></Value></MessageAttribute>
// with binary values in base64.
type msgAttrMap map[string]attrOut

func (m msgAttrMap) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	type value struct {
		StringValue *string `xml:"StringValue,omitempty"`
		BinaryValue string  `xml:"BinaryValue,omitempty"`
		DataType    string  `xml:"DataType"`
	}
	for _, k := range sortedKeys(m) {
		a := m[k]
		v := value{StringValue: a.StringValue, DataType: a.DataType}
		if a.BinaryValue != nil {
			v.BinaryValue = base64.StdEncoding.EncodeToString(a.BinaryValue)
		}
		if err := e.EncodeElement(struct {
			Name  string `xml:"Name"`
			Value value  `xml:"Value"`
		}{k, v}, start); err != nil {
			return err
		}
	}
	return nil
}
