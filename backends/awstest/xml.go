package awstest

import (
	"encoding/xml"
	"net/http"
	"time"
)

// xmlns is the namespace of every EC2 response.
const xmlns = "http://ec2.amazonaws.com/doc/" + APIVersion + "/"

// head opens every response: the namespace and the request id.
type head struct {
	Xmlns     string `xml:"xmlns,attr"`
	RequestID string `xml:"requestId"`
}

func (h *head) setHead(requestID string) { h.Xmlns, h.RequestID = xmlns, requestID }

type response interface{ setHead(requestID string) }

// writeXML writes a success reply; body's XMLName must be <Action>Response.
func writeXML(w http.ResponseWriter, action, requestID string, body any) {
	if r, ok := body.(response); ok {
		r.setHead(requestID)
	}
	out, err := xml.Marshal(body)
	if err != nil {
		writeError(w, requestID, errorf(http.StatusInternalServerError, "InternalError", "marshal %s: %v", action, err))
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(out)
}

type errorResponse struct {
	XMLName   xml.Name `xml:"Response"`
	Errors    []errXML `xml:"Errors>Error"`
	RequestID string   `xml:"RequestID"`
}

type errXML struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// writeError writes an EC2 error reply (note: RequestID, capitalised, as EC2 does).
func writeError(w http.ResponseWriter, requestID string, e *apiError) {
	out, _ := xml.Marshal(errorResponse{Errors: []errXML{{Code: e.code, Message: e.message}}, RequestID: requestID})
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(e.status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(out)
}

// ec2Time formats a time the way EC2 does.
func ec2Time(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

type tagXML struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type stateXML struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

type groupXML struct {
	GroupID   string `xml:"groupId"`
	GroupName string `xml:"groupName"`
}

type reasonXML struct {
	Code    string `xml:"code"`
	Message string `xml:"message"`
}

type instanceXML struct {
	InstanceID         string     `xml:"instanceId"`
	ImageID            string     `xml:"imageId"`
	State              stateXML   `xml:"instanceState"`
	PrivateDNSName     string     `xml:"privateDnsName"`
	DNSName            string     `xml:"dnsName"`
	Reason             string     `xml:"reason"`
	AmiLaunchIndex     int        `xml:"amiLaunchIndex"`
	InstanceType       string     `xml:"instanceType"`
	LaunchTime         string     `xml:"launchTime"`
	Zone               string     `xml:"placement>availabilityZone"`
	Tenancy            string     `xml:"placement>tenancy"`
	Monitoring         string     `xml:"monitoring>state"`
	SubnetID           string     `xml:"subnetId,omitempty"`
	VpcID              string     `xml:"vpcId,omitempty"`
	PrivateIP          string     `xml:"privateIpAddress,omitempty"`
	PublicIP           string     `xml:"ipAddress,omitempty"`
	SourceDestCheck    bool       `xml:"sourceDestCheck"`
	Groups             []groupXML `xml:"groupSet>item"`
	StateReason        *reasonXML `xml:"stateReason,omitempty"`
	Architecture       string     `xml:"architecture"`
	RootDeviceType     string     `xml:"rootDeviceType"`
	RootDeviceName     string     `xml:"rootDeviceName"`
	VirtualizationType string     `xml:"virtualizationType"`
	ClientToken        string     `xml:"clientToken"`
	Tags               []tagXML   `xml:"tagSet>item,omitempty"`
	Hypervisor         string     `xml:"hypervisor"`
	ENIs               []eniXML   `xml:"networkInterfaceSet>item"`
	EbsOptimized       bool       `xml:"ebsOptimized"`
	EnaSupport         bool       `xml:"enaSupport"`
}

type eniXML struct {
	ID              string          `xml:"networkInterfaceId"`
	SubnetID        string          `xml:"subnetId"`
	VpcID           string          `xml:"vpcId"`
	Description     string          `xml:"description"`
	OwnerID         string          `xml:"ownerId"`
	Status          string          `xml:"status"`
	PrivateIP       string          `xml:"privateIpAddress"`
	PrivateDNSName  string          `xml:"privateDnsName"`
	SourceDestCheck bool            `xml:"sourceDestCheck"`
	Groups          []groupXML      `xml:"groupSet>item"`
	Attachment      attachmentXML   `xml:"attachment"`
	Association     *associationXML `xml:"association,omitempty"`
	InterfaceType   string          `xml:"interfaceType"`
}

type attachmentXML struct {
	ID                  string `xml:"attachmentId"`
	DeviceIndex         int    `xml:"deviceIndex"`
	Status              string `xml:"status"`
	AttachTime          string `xml:"attachTime"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
}

type associationXML struct {
	PublicIP      string `xml:"publicIp"`
	PublicDNSName string `xml:"publicDnsName"`
	IPOwnerID     string `xml:"ipOwnerId"`
}

type reservationXML struct {
	ReservationID string        `xml:"reservationId"`
	OwnerID       string        `xml:"ownerId"`
	Groups        []groupXML    `xml:"groupSet>item"`
	Instances     []instanceXML `xml:"instancesSet>item"`
}

type runInstancesResponse struct {
	XMLName xml.Name `xml:"RunInstancesResponse"`
	head
	reservationXML
}

type describeInstancesResponse struct {
	XMLName xml.Name `xml:"DescribeInstancesResponse"`
	head
	Reservations []reservationXML `xml:"reservationSet>item"`
	NextToken    string           `xml:"nextToken,omitempty"`
}

type stateChangeXML struct {
	InstanceID string   `xml:"instanceId"`
	Current    stateXML `xml:"currentState"`
	Previous   stateXML `xml:"previousState"`
}

type terminateInstancesResponse struct {
	XMLName xml.Name `xml:"TerminateInstancesResponse"`
	head
	Changes []stateChangeXML `xml:"instancesSet>item"`
}

type zoneXML struct {
	ZoneName           string `xml:"zoneName"`
	ZoneID             string `xml:"zoneId"`
	State              string `xml:"zoneState"`
	RegionName         string `xml:"regionName"`
	ZoneType           string `xml:"zoneType"`
	OptInStatus        string `xml:"optInStatus"`
	GroupName          string `xml:"groupName"`
	NetworkBorderGroup string `xml:"networkBorderGroup"`
}

type describeAvailabilityZonesResponse struct {
	XMLName xml.Name `xml:"DescribeAvailabilityZonesResponse"`
	head
	Zones []zoneXML `xml:"availabilityZoneInfo>item"`
}

type imageXML struct {
	ImageID            string `xml:"imageId"`
	ImageLocation      string `xml:"imageLocation"`
	State              string `xml:"imageState"`
	OwnerID            string `xml:"imageOwnerId"`
	CreationDate       string `xml:"creationDate"`
	IsPublic           bool   `xml:"isPublic"`
	Architecture       string `xml:"architecture"`
	ImageType          string `xml:"imageType"`
	Name               string `xml:"name"`
	Description        string `xml:"description"`
	RootDeviceType     string `xml:"rootDeviceType"`
	RootDeviceName     string `xml:"rootDeviceName"`
	VirtualizationType string `xml:"virtualizationType"`
	Hypervisor         string `xml:"hypervisor"`
	PlatformDetails    string `xml:"platformDetails"`
	EnaSupport         bool   `xml:"enaSupport"`
}

type describeImagesResponse struct {
	XMLName xml.Name `xml:"DescribeImagesResponse"`
	head
	Images []imageXML `xml:"imagesSet>item"`
}

type vpcXML struct {
	VpcID           string `xml:"vpcId"`
	OwnerID         string `xml:"ownerId"`
	State           string `xml:"state"`
	CidrBlock       string `xml:"cidrBlock"`
	DhcpOptionsID   string `xml:"dhcpOptionsId"`
	InstanceTenancy string `xml:"instanceTenancy"`
	IsDefault       bool   `xml:"isDefault"`
}

type describeVpcsResponse struct {
	XMLName xml.Name `xml:"DescribeVpcsResponse"`
	head
	Vpcs []vpcXML `xml:"vpcSet>item"`
}

type subnetXML struct {
	SubnetID            string `xml:"subnetId"`
	VpcID               string `xml:"vpcId"`
	OwnerID             string `xml:"ownerId"`
	State               string `xml:"state"`
	CidrBlock           string `xml:"cidrBlock"`
	AvailableIPs        int    `xml:"availableIpAddressCount"`
	Zone                string `xml:"availabilityZone"`
	ZoneID              string `xml:"availabilityZoneId"`
	DefaultForAz        bool   `xml:"defaultForAz"`
	MapPublicIPOnLaunch bool   `xml:"mapPublicIpOnLaunch"`
}

type describeSubnetsResponse struct {
	XMLName xml.Name `xml:"DescribeSubnetsResponse"`
	head
	Subnets []subnetXML `xml:"subnetSet>item"`
}

type ipRangeXML struct {
	CidrIP      string `xml:"cidrIp"`
	Description string `xml:"description,omitempty"`
}

type permissionXML struct {
	Protocol string       `xml:"ipProtocol"`
	FromPort *int         `xml:"fromPort,omitempty"`
	ToPort   *int         `xml:"toPort,omitempty"`
	Ranges   []ipRangeXML `xml:"ipRanges>item"`
}

type securityGroupXML struct {
	OwnerID     string          `xml:"ownerId"`
	GroupID     string          `xml:"groupId"`
	GroupName   string          `xml:"groupName"`
	Description string          `xml:"groupDescription"`
	VpcID       string          `xml:"vpcId"`
	Ingress     []permissionXML `xml:"ipPermissions>item"`
	Egress      []permissionXML `xml:"ipPermissionsEgress>item"`
	Tags        []tagXML        `xml:"tagSet>item,omitempty"`
}

type describeSecurityGroupsResponse struct {
	XMLName xml.Name `xml:"DescribeSecurityGroupsResponse"`
	head
	Groups []securityGroupXML `xml:"securityGroupInfo>item"`
}

type createSecurityGroupResponse struct {
	XMLName xml.Name `xml:"CreateSecurityGroupResponse"`
	head
	Return  bool   `xml:"return"`
	GroupID string `xml:"groupId"`
}

type returnResponse struct {
	XMLName xml.Name
	head
	Return bool `xml:"return"`
}

func xmlName(local string) xml.Name { return xml.Name{Local: local} }
